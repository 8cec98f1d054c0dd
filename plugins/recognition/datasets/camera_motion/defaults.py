"""Default size of the camera-motion demo.

Kept small for a short CPU fine-tuning run of an EfficientNet-Lite0 TSM on 8
frames at 112 px. There are 7 classes x 32 training clips (56 steps of 4
clips per epoch in the demo config) and 7 x 12 validation clips, 16 frames
each at 128 x 128 pixels.
"""
CLIPS_PER_CLASS_TRAIN = 32
CLIPS_PER_CLASS_VAL = 12
CLIP_LEN = 16
SIZE = 128
SEED = 0
