// KilnFormats
