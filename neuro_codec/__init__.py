"""neuro-codec: an event-based (spiking) audio codec for piano music."""
