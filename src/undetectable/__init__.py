"""undetectable: plant, activate, audit and immunize undetectable backdoors in ML models.

Implements Goldwasser, Kim, Vaikuntanathan, Zamir, *Planting Undetectable Backdoors in Machine
Learning Models* (FOCS 2022, arXiv 2204.06974).
"""
__version__ = "0.1.0"
