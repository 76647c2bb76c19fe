"""Training: the network (:mod:`.model`), the seed study over the hold-out and the repeated k-fold splits
(:mod:`.study`), the scikit-learn baselines fitted on the same splits (:mod:`.baselines`), the calibration
built into the shipped model (:mod:`.calibration`) and the tables train writes (:mod:`.predictions`)."""
