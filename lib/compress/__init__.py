"""Compression: ONNX export and fusion, calibration, dynamic INT8, SmoothQuant static INT8, ORT's
quantization debugger, Olive's search.
"""
