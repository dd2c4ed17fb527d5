// KilnTokenizers
