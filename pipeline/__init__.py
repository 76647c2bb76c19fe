"""igfake: tell authentic Instagram profiles from fake and spam ones, reproducibly."""

import os

# oneDNN's fused kernels change TensorFlow's numbers from machine to machine; the pipeline promises
# bit-identical results for the same params and code, so it fixes the setting before TF is imported.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
