"""Taking a trained model out of the toolkit: inference folding, ONNX/TorchScript exports checked on the
spot, the Hugging Face Hub folder with its model card, Hub repo ids as sources, and the Gradio demo.

The demo's path (a run, export or hub folder or a repo id to a Gradio app) imports none of the training
parts (Accelerate, W&B, torch-fidelity). The optional packages (onnx, onnxruntime, gradio) are imported
where used, with a one-line error naming the extra that installs them
(:func:`gan.deploy.source.optional_extra`); huggingface_hub is a dependency (the models use its mixin).
"""
