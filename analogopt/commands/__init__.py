"""Sub-commands of the ``analogopt`` CLI (each module defines ``register(subparsers)``)."""
