"""``python -m resnet_opt ...`` (and ``torchrun ... -m resnet_opt ...``) runs the CLI."""

from resnet_opt.cli import main

if __name__ == "__main__":
    main()
