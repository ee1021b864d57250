# Bi-PointFlowNet teacher (ECCV 2022): 4-level PointConv pyramid with
# bidirectional flow embedding, 7,958,604 parameters.
model = dict(
    type='BiPointFlowNet',
    # Points kept by the downsampling PointConvs of levels 1-4 (the input,
    # level 0, has the dataset's num_points, 8192).
    num_points=[2048, 512, 256, 64],
    feat_neighbors=16,  # K of the downsampling PointConvs
    flow_neighbors=32,  # K of the bidirectional flow embedding
    estimator_neighbors=9,  # K of the flow estimators' PointConvs
    # Weight-net output channels C_mid per resolution (N, 2048, 512, 256, 64)
    # or one int for all; students lower it.
    weightnet=16,
    weightnet_hidden=[8, 8],
    width_mult=1.0,  # 0.5 gives the Half-channel student
    level4_block='Linear',  # or 'DecreasedLinear'
    estimator_channels=[128, 128],
    estimator_mlp=[128, 64],
    flow_clamp=200.,
    loss=dict(type='MultiScaleLoss', alpha=[0.02, 0.04, 0.08, 0.16]))
