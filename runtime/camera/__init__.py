"""facedge.runtime.camera: the live camera demo (`facedge camera`): frame sources,
the capture/detect/draw pipeline, its outputs (window, recording, JSON lines) and
the MJPEG web server. An application on top of the Detector."""
