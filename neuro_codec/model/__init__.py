"""The model: the spiking encoder (snnTorch) and its Loihi fixed point, the RVQ baseline, the
frame-rate decoder and the flow-matching refiner that post-filters its audio, the codec that
joins them, presets and checkpoints."""
