// KilnSampling
