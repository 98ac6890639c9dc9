"""The model: the spiking encoder (snnTorch) and its Loihi fixed point, the RVQ baseline, the
frame-rate decoder and diffusion refiner, the codec that joins them, presets and checkpoints."""
