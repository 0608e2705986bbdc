"""archive/packaging"""
