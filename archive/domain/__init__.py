"""archive/domain"""
