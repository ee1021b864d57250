# Bi-directional hint of the WN48 student (see bihint_wn4.py). Loads with
# bpfn-wn48_ft3d.py.
_base_ = ['./bihint_wn4.py']
model = dict(student=dict(weightnet=[4, 4, 4, 8, 8]))
