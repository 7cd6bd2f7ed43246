"""Taking a trained model out of the toolkit: inference folding, ONNX/TorchScript exports checked on the
spot, the Hugging Face Hub folder with its model card, and the Gradio demo.

Nothing here imports the training code's optional parts (Accelerate, W&B, torch-fidelity); the
optional packages each module needs (onnx, onnxruntime, huggingface_hub, gradio) are imported when
used, with a one-line error naming the extra that installs them (:func:`gan.deploy.source.require`).
"""
