"""The runtimes `facedge bench` times, each behind one small class.

A runner is built inside its benchmark worker process (after the process is pinned
to its cores) from a job description, and `run(frame)` does one end-to-end
detection on a BGR frame, timing itself: it returns {row: (total_ms, stages_ms)}
for the table rows it feeds, and `faces` holds how many faces the last call found.

facedge feeds two rows: its own detect() call, and the bare ncnn inference of the
same network input timed inside C++ (what facedge adds on top of ncnn is the
ratio of the two). The peers do what a user of that runtime writes around the same
model: the numpy pre/post-processing of bench/reference_decode.py, or ncnn's own
Mat.from_pixels_resize for the ncnn wheel. YuNet is OpenCV's own face detector:
its detect() decodes and runs NMS inside, so its 'inference' stage holds those.
"""

from __future__ import annotations

import time

import numpy as np

from facedge.bench import reference_decode

# Peer names as given to --peers, in table order.
PEERS = ("onnxruntime", "opencv-dnn", "ncnn-python", "yunet")
# ncnn's spin time of idle OpenMP threads (its default), for facedge and the ncnn wheel alike.
OPENMP_BLOCKTIME_MS = 20
# Candidates YuNet keeps before its NMS (OpenCV's default).
YUNET_TOP_K = 5000


def _ms(t0, t1):
    return (t1 - t0) * 1000.0


def _roles(job):
    """The model's output roles in a fixed order: scores, boxes[, landmarks]."""
    return [r for r in ("scores", "boxes", "landmarks") if r in job["model"]["outputs"]]


class _NumpyDecoded:
    """Shared by the peers that hand raw head outputs to the numpy decoder."""

    def __init__(self, job):
        model = job["model"]
        self.job = job
        self.input_size = tuple(model["input_size"])
        self.family = model["family"]
        self.priors = reference_decode.make_priors(self.family, *self.input_size)
        self.num_landmarks = reference_decode.layout_for(self.family).num_landmarks
        self.faces = 0

    def decode(self, outputs, frame):
        rows = len(self.priors)
        scores, boxes = outputs[0].reshape(rows, -1), outputs[1].reshape(rows, 4)
        landmarks = outputs[2].reshape(rows, -1) if len(outputs) > 2 else None
        boxes, scores, _ = reference_decode.detect(
            self.priors, scores, boxes, (frame.shape[1], frame.shape[0]), self.job["score_threshold"],
            self.job["iou_threshold"], landmarks=landmarks, num_landmarks=self.num_landmarks)
        self.faces = len(scores)
        return boxes, scores

    def preprocess(self, frame):
        m = self.job["model"]
        return reference_decode.preprocess(frame, self.input_size, m["pixel"], m["mean"], m["norm"])


class FacedgeRunner:
    rows = ("facedge", "ncnn-bare")

    def __init__(self, job):
        import facedge

        model = job["model"]
        # the spec's size (the model's own unless a caller such as the A72 frontier asks another)
        self.det = facedge.Detector(model["model_dir"], threads=job["threads"], input_size=tuple(model["input_size"]),
                                    score_threshold=job["score_threshold"], iou_threshold=job["iou_threshold"],
                                    openmp_blocktime_ms=OPENMP_BLOCKTIME_MS, bf16=job.get("bf16"))
        self.float_storage = self.det.float_storage
        self.chw = None
        self.faces = 0

    def run(self, frame):
        if self.chw is None:  # the network input facedge itself makes from this frame
            self.chw = np.ascontiguousarray(self.det.extract_blobs(frame, [self.det.info.input])[self.det.info.input])
        t0 = time.perf_counter()
        result = self.det.detect(frame)
        t1 = time.perf_counter()
        bare = self.det.infer_normalized(self.chw)["timings_ms"]["inference"]
        self.faces = len(result)
        return {"facedge": (_ms(t0, t1), dict(result.timings_ms)),
                "ncnn-bare": (bare, {"preprocess": 0.0, "inference": bare, "postprocess": 0.0})}

    def detections(self, frame):
        r = self.det.detect(frame)
        return r.boxes, r.scores


class OnnxRuntimeRunner(_NumpyDecoded):
    rows = ("onnxruntime",)

    def __init__(self, job):
        super().__init__(job)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = job["threads"]
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(job["model"]["onnx"], options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = _roles(job)

    def run(self, frame):
        t0 = time.perf_counter()
        x = self.preprocess(frame)
        t1 = time.perf_counter()
        outputs = self.session.run(self.output_names, {self.input_name: x})
        t2 = time.perf_counter()
        self.decode(outputs, frame)
        t3 = time.perf_counter()
        return {"onnxruntime": (_ms(t0, t3), {"preprocess": _ms(t0, t1), "inference": _ms(t1, t2), "postprocess": _ms(t2, t3)})}

    def detections(self, frame):
        return self.decode(self.session.run(self.output_names, {self.input_name: self.preprocess(frame)}), frame)


class OpenCvDnnRunner(_NumpyDecoded):
    rows = ("opencv-dnn",)

    def __init__(self, job):
        super().__init__(job)
        import cv2

        cv2.setNumThreads(job["threads"])
        self.net = cv2.dnn.readNetFromONNX(job["model"]["onnx"])
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.output_names = _roles(job)

    def _infer(self, x):
        self.net.setInput(x)
        return self.net.forward(self.output_names)

    def run(self, frame):
        t0 = time.perf_counter()
        x = self.preprocess(frame)
        t1 = time.perf_counter()
        outputs = self._infer(x)
        t2 = time.perf_counter()
        self.decode(outputs, frame)
        t3 = time.perf_counter()
        return {"opencv-dnn": (_ms(t0, t3), {"preprocess": _ms(t0, t1), "inference": _ms(t1, t2), "postprocess": _ms(t2, t3)})}

    def detections(self, frame):
        return self.decode(self._infer(self.preprocess(frame)), frame)


class NcnnPythonRunner(_NumpyDecoded):
    """The ncnn wheel as its examples use it: ncnn's resize + normalize, extract, numpy."""

    rows = ("ncnn-python",)

    def __init__(self, job):
        super().__init__(job)
        import ncnn

        model = job["model"]
        self.ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.num_threads = job["threads"]
        self.net.opt.openmp_blocktime = OPENMP_BLOCKTIME_MS
        if self.net.load_param(model["param"]) != 0 or self.net.load_model(model["bin"]) != 0:
            raise RuntimeError(f"the ncnn wheel could not load {model['param']}")
        pixel = ncnn.Mat.PixelType
        self.pixel_type = pixel.PIXEL_BGR2RGB if model["pixel"] == "rgb" else pixel.PIXEL_BGR
        self.input_name = model["input"]
        self.output_blobs = [model["outputs"][r] for r in _roles(job)]
        self.mean, self.norm = list(model["mean"]), list(model["norm"])

    def _preprocess(self, frame):
        w, h = self.input_size
        mat = self.ncnn.Mat.from_pixels_resize(frame, self.pixel_type, frame.shape[1], frame.shape[0], w, h)
        mat.substract_mean_normalize(self.mean, self.norm)
        return mat

    def _infer(self, mat):
        ex = self.net.create_extractor()
        ex.input(self.input_name, mat)
        return [np.array(ex.extract(name)[1]) for name in self.output_blobs]

    def run(self, frame):
        t0 = time.perf_counter()
        mat = self._preprocess(frame)
        t1 = time.perf_counter()
        outputs = self._infer(mat)
        t2 = time.perf_counter()
        self.decode(outputs, frame)
        t3 = time.perf_counter()
        return {"ncnn-python": (_ms(t0, t3), {"preprocess": _ms(t0, t1), "inference": _ms(t1, t2), "postprocess": _ms(t2, t3)})}

    def detections(self, frame):
        return self.decode(self._infer(self._preprocess(frame)), frame)


class YuNetRunner:
    """cv2.FaceDetectorYN at the benchmarked model's input size."""

    rows = ("yunet",)

    def __init__(self, job):
        import cv2

        self.cv2 = cv2
        cv2.setNumThreads(job["threads"])
        self.input_size = tuple(job["model"]["input_size"])
        self.det = cv2.FaceDetectorYN.create(job["yunet"], "", self.input_size, job["score_threshold"],
                                             job["iou_threshold"], YUNET_TOP_K)
        self.faces = 0

    def _detect(self, frame):
        resized = self.cv2.resize(frame, self.input_size, interpolation=self.cv2.INTER_LINEAR)
        return self.det.detect(resized)[1]

    def _boxes(self, found, frame):
        if found is None:
            return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
        sx, sy = frame.shape[1] / self.input_size[0], frame.shape[0] / self.input_size[1]
        xywh = found[:, :4] * [sx, sy, sx, sy]
        return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1).astype(np.float32), found[:, 14].astype(np.float32)

    def run(self, frame):
        t0 = time.perf_counter()
        resized = self.cv2.resize(frame, self.input_size, interpolation=self.cv2.INTER_LINEAR)
        t1 = time.perf_counter()
        found = self.det.detect(resized)[1]
        t2 = time.perf_counter()
        boxes, _ = self._boxes(found, frame)
        t3 = time.perf_counter()
        self.faces = len(boxes)
        return {"yunet": (_ms(t0, t3), {"preprocess": _ms(t0, t1), "inference": _ms(t1, t2), "postprocess": _ms(t2, t3)})}

    def detections(self, frame):
        return self._boxes(self._detect(frame), frame)


RUNNERS = {"facedge": FacedgeRunner, "onnxruntime": OnnxRuntimeRunner, "opencv-dnn": OpenCvDnnRunner,
           "ncnn-python": NcnnPythonRunner, "yunet": YuNetRunner}


def make_runner(job):
    return RUNNERS[job["runtime"]](job)
