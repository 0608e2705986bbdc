"""archive/copies"""
