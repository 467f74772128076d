"""The shared bottom layer: tools every app uses, with no models and no import of the apps."""
