"""How good a result is, without a clean image: the network against blind-spot blurs on held-out masked pixels.

For noise that is independent from pixel to pixel, any predictor that does not look at pixel i has
E[(prediction_i - noisy_i)^2] = MSE(prediction, clean) + noise variance, so the network and simple
blurs with their centre weight removed can be ranked on the same masked pixels; an estimate of the
noise variance turns the same numbers into a gain over the noisy input. Plain numpy: the network
comes in as a function. May import: ``data``, ``config``, ``errors``; never ``training``,
``denoising`` or a front door.
"""
