"""Paper 002 (Cameron, Chen & Sejnowski, reciprocal feedback): Fig. 1A and Table 1."""

ITEMS = ()
