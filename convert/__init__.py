"""facedge.convert"""
