// KilnModels
