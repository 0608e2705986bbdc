"""archive/ledger"""
