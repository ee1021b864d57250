# Hint KD (gamma 0.3) of the WN48 student (C_mid 4 on the three finest
# resolutions, 8 on the two coarsest). Loads with bpfn-wn48_ft3d.py.
_base_ = ['./hint_wn4.py']
model = dict(student=dict(weightnet=[4, 4, 4, 8, 8]))
