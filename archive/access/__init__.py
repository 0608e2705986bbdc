"""archive/access"""
