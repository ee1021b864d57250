# Attentive imitation loss of the WN48 student (C_mid 4 on the three
# finest resolutions, 8 on the two coarsest; see ail_wn4.py).
_base_ = ['./ail_wn4.py']
model = dict(student=dict(weightnet=[4, 4, 4, 8, 8]))
