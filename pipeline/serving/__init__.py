"""What ships and runs on a phone: the Keras model converted to TFLite and checked (:mod:`.export`) and the
TFLite model run by LiteRT with no TensorFlow (:mod:`.litert`)."""
