"""Default size of the camera-motion demo.

Kept small for a short CPU fine-tuning run of an EfficientNet-Lite0 TSM on 8
frames at 112 px. There are 5 classes x 64 training clips (80 steps of 4
clips per epoch in the demo config) and 5 x 20 validation clips, 16 frames
each at 128 x 128 pixels.

The classes are the camera motions of everyday footage: a fixed camera, a pan
either way and a zoom either way. A config that adds ``tilt_up`` and
``tilt_down`` to ``classes`` renders tilts as well.
"""
CLASSES = ('static', 'pan_left', 'pan_right', 'zoom_in', 'zoom_out')
CLIPS_PER_CLASS_TRAIN = 64
CLIPS_PER_CLASS_VAL = 20
CLIP_LEN = 16
SIZE = 128
SEED = 0
