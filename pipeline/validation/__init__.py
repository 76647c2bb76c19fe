"""Is a new batch of data still the data the accepted model was trained on? Drift against a reference."""
