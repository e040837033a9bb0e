"""facedge.calibration"""
