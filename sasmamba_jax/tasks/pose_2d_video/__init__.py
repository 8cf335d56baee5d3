"""Video 2D pose estimation (GLSMamba on a frozen ViTPose; ViTPose per frame)."""
