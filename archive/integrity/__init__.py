"""archive/integrity"""
