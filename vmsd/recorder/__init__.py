"""The recorder fleet: one supervised FFmpeg segment recorder per recording camera."""
