"""Paper 001 (Baldi, Sadowski & Lu, random backpropagation): Table 1."""

ITEMS = ()
