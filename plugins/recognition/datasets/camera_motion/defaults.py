"""Default size of the camera-motion demo.

Kept small for a short CPU fine-tuning run of an EfficientNet-Lite0 TSM with
8 segments at 112 px: 7 classes x 32 training clips (28 steps of 8 clips per
epoch) and 7 x 12 validation clips, 16 frames each at 128 x 128 pixels.
"""
CLIPS_PER_CLASS_TRAIN = 32
CLIPS_PER_CLASS_VAL = 12
CLIP_LEN = 16
SIZE = 128
SEED = 0
