// resnet-opt-runner: run a resnet-opt artifact (TorchScript or AOTInductor .pt2) from C++ through libtorch.
//
//   resnet-opt-runner ARTIFACT_DIR IMAGE... [--top-k K] [--json] [--threads N] [--device cpu|cuda]
//   resnet-opt-runner ARTIFACT_DIR --bench [--batch N] [--warmup N] [--iters N] [--threads N] [--json]
//
// ARTIFACT_DIR is a folder written by resnet-opt (manifest.json + model file). The manifest (read with nlohmann/json)
// gives the model file, the input size, the preprocessing and the class names. Images are decoded with stb_image and
// preprocessed exactly as the Python runtime does (torchvision transforms on PIL images; the resize below re-implements
// Pillow's separable antialiased resampling in the same fixed-point arithmetic). Bad input -> one line
// "error: ..." on stderr and a non-zero exit (2: bad usage or input, 3: the model failed to load or run).

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/script.h>
#include <torch/cuda.h>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kVersion = "0.1.0";
constexpr int kPredictBatch = 32;  // as resnet_opt.runtime.predictor.PREDICT_BATCH

// ------------------------------------------------------------------------------------------------ errors
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};  // exit 2
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};  // exit 2
struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};  // exit 3

std::string one_line(std::string s) {
  // collapse whitespace and keep the first line of a libtorch message (its backtraces span many lines)
  auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out.empty() ? "unknown error" : out;
}

std::string torch_message(const std::exception& e) {
  if (auto* ce = dynamic_cast<const c10::Error*>(&e)) return one_line(ce->what_without_backtrace());
  return one_line(e.what());
}

// ------------------------------------------------------------------------------------------------ options
struct Options {
  fs::path artifact;
  std::vector<std::string> images;
  std::string raw;      // --raw: a preprocessed float32 batch [N, 3, S, S] (little-endian, N from the file size)
  bool logits = false;  // --logits: full logits in the JSON output
  std::string dump_input;  // --dump-input: write the preprocessed images (float32 [N,3,S,S]) and stop
  int top_k = 5;
  bool json = false;
  bool bench = false;
  int batch = 1;
  int warmup = 10;
  int iters = 50;
  int threads = 0;  // 0: libtorch's default
  std::string device = "cpu";
  bool verbose = false;
};

const char* kUsage =
    "usage: resnet-opt-runner ARTIFACT_DIR IMAGE... [--top-k K] [--json] [--threads N] [--device cpu|cuda]\n"
    "       resnet-opt-runner ARTIFACT_DIR --bench [--batch N] [--warmup N] [--iters N] [--threads N] [--json]\n"
    "\n"
    "Runs a resnet-opt artifact folder (TorchScript model.ts or AOTInductor model.pt2 + manifest.json) with libtorch.\n"
    "  --top-k K      classes printed per image (default 5)\n"
    "  --json         print one JSON object instead of text\n"
    "  --raw FILE     also classify a preprocessed float32 batch [N,3,S,S] (raw little-endian, N from its size)\n"
    "  --logits       include each input's logits in the JSON output\n"
    "  --dump-input F write the preprocessed images as raw float32 [N,3,S,S] to F and exit (no model is loaded)\n"
    "  --bench        time the model on random inputs: warm-up, then p50/p90/p99 latency\n"
    "  --batch N      batch size for --bench (default 1)\n"
    "  --warmup N     untimed runs before timing (default 10)\n"
    "  --iters N      timed runs (default 50)\n"
    "  --threads N    intra-op CPU threads (default: libtorch's)\n"
    "  --device D     cpu (default) or cuda\n"
    "  --verbose      let libtorch's warnings through\n"
    "  --version, -h/--help\n";

int parse_int(const std::string& opt, const std::string& v, int min_value) {
  size_t pos = 0;
  long x = 0;
  try {
    x = std::stol(v, &pos);
  } catch (const std::exception&) {
    throw UsageError(opt + " needs an integer, got '" + v + "'");
  }
  if (pos != v.size()) throw UsageError(opt + " needs an integer, got '" + v + "'");
  if (x < min_value || x > 1000000) throw UsageError(opt + " must be at least " + std::to_string(min_value) + ", got " + v);
  return static_cast<int>(x);
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& name) -> std::string {
      if (i + 1 >= argc) throw UsageError(name + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--version") {
      std::cout << "resnet-opt-runner " << kVersion << " (libtorch " << TORCH_VERSION << ")\n";
      std::exit(0);
    } else if (a == "--top-k" || a == "-k") {
      o.top_k = parse_int(a, value(a), 1);
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--raw") {
      o.raw = value(a);
    } else if (a == "--dump-input") {
      o.dump_input = value(a);
    } else if (a == "--logits") {
      o.logits = true;
    } else if (a == "--bench") {
      o.bench = true;
    } else if (a == "--batch") {
      o.batch = parse_int(a, value(a), 1);
    } else if (a == "--warmup") {
      o.warmup = parse_int(a, value(a), 0);
    } else if (a == "--iters") {
      o.iters = parse_int(a, value(a), 1);
    } else if (a == "--threads") {
      o.threads = parse_int(a, value(a), 1);
    } else if (a == "--device") {
      o.device = value(a);
      if (o.device != "cpu" && o.device != "cuda") throw UsageError("--device must be cpu or cuda, got '" + o.device + "'");
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a.size() > 1 && a[0] == '-') {
      throw UsageError("unknown option " + a + " (see --help)");
    } else {
      pos.push_back(a);
    }
  }
  if (pos.empty()) throw UsageError("missing ARTIFACT_DIR (see --help)");
  o.artifact = pos[0];
  o.images.assign(pos.begin() + 1, pos.end());
  if (!o.bench && o.images.empty() && o.raw.empty())
    throw UsageError("give image files to classify, or --bench to time the model");
  return o;
}

// ------------------------------------------------------------------------------------------------ manifest
struct Preprocessing {  // resnet_opt.data.preprocessing.Preprocessing (same defaults as Preprocessing.from_dict)
  int resize = 256;
  int crop = 224;
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float std[3] = {0.229f, 0.224f, 0.225f};
  std::string interpolation = "bilinear";
  bool grayscale = false;
  bool square = false;
  std::string name = "imagenet-v1";
};

struct Artifact {
  fs::path folder;
  fs::path model_file;
  std::string kind;  // torchscript | pt2
  std::string precision = "fp32";
  int input_size = 0;
  int static_batch = 0;  // 0: dynamic
  // .pt2: the static batch sizes compiled into the package, one model "batch<N>" each (compile.batch_sizes);
  // empty: one model named "model" (dynamic batch, or static_batch from the input shape of older packages)
  std::vector<int> batch_sizes;
  int num_classes = 0;   // 0: unknown
  std::vector<std::string> class_names;
  Preprocessing pre;
  bool optimize_on_cpu = false;
  std::string qengine;  // quantization.backend of an INT8 TorchScript artifact
};

template <typename T>
T get_or(const json& j, const char* key, T dflt) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return dflt;
  return j[key].get<T>();
}

Artifact read_artifact(const fs::path& folder) {
  Artifact a;
  a.folder = folder;
  std::error_code ec;
  if (!fs::exists(folder, ec)) throw InputError("artifact " + folder.string() + " does not exist");
  if (!fs::is_directory(folder, ec))
    throw InputError(folder.string() + " is not an artifact folder (expected a folder with manifest.json)");
  fs::path mpath = folder / "manifest.json";
  if (!fs::is_regular_file(mpath, ec)) throw InputError("artifact folder " + folder.string() + " has no manifest.json");
  json m;
  try {
    std::ifstream f(mpath);
    m = json::parse(f);
  } catch (const json::exception& e) {
    throw InputError(mpath.string() + " is not valid JSON: " + one_line(e.what()));
  }
  try {
    if (!m.is_object() || get_or<std::string>(m, "format", "") != "resnet-opt-artifact")
      throw InputError(mpath.string() + " is not a resnet-opt manifest");
    a.kind = get_or<std::string>(m, "kind", "");
    if (a.kind != "torchscript" && a.kind != "pt2")
      throw InputError(mpath.string() + " has kind '" + a.kind + "'; this runner loads torchscript and pt2 artifacts");
    std::string file = get_or<std::string>(m, "file", "");
    if (file.empty()) throw InputError(mpath.string() + " does not name the model file ('file')");
    fs::path fp(file);
    if (fp.is_absolute() || std::find(fp.begin(), fp.end(), fs::path("..")) != fp.end())
      throw InputError(mpath.string() + " names a model file outside the folder: " + file);
    a.model_file = folder / fp;
    if (!fs::is_regular_file(a.model_file, ec))
      throw InputError("artifact folder " + folder.string() + " is missing its model file " + file);
    if (fs::file_size(a.model_file, ec) == 0) throw InputError("model file " + a.model_file.string() + " is empty");
    a.precision = get_or<std::string>(m, "precision", "fp32");

    const json pre = m.contains("preprocessing") ? m["preprocessing"] : json();
    if (pre.is_object() && !pre.empty()) {
      Preprocessing p;
      p.name = "custom";
      p.resize = get_or<int>(pre, "resize", p.resize);
      p.crop = get_or<int>(pre, "crop", p.crop);
      p.interpolation = get_or<std::string>(pre, "interpolation", p.interpolation);
      p.grayscale = get_or<bool>(pre, "grayscale", p.grayscale);
      p.square = get_or<bool>(pre, "square", p.square);
      p.name = get_or<std::string>(pre, "name", p.name);
      for (const char* key : {"mean", "std"}) {
        if (!pre.contains(key) || pre[key].is_null()) continue;
        const json& v = pre[key];
        if (!v.is_array() || v.size() != 3) throw InputError(mpath.string() + ": preprocessing." + key + " must be 3 numbers");
        float* dst = std::string(key) == "mean" ? p.mean : p.std;
        for (int c = 0; c < 3; ++c) dst[c] = v[c].get<float>();  // float32, as torchvision's Normalize uses
      }
      a.pre = p;
    }
    const Preprocessing& p = a.pre;
    if (p.resize < 1 || p.crop < 1) throw InputError(mpath.string() + ": preprocessing resize/crop must be positive");
    if (p.interpolation != "bilinear" && p.interpolation != "bicubic" && p.interpolation != "nearest")
      throw InputError(mpath.string() + ": unknown interpolation '" + p.interpolation + "'");
    for (int c = 0; c < 3; ++c)
      if (!(p.std[c] > 0.0f)) throw InputError(mpath.string() + ": preprocessing.std must be positive");

    a.input_size = p.crop;
    if (m.contains("input") && m["input"].contains("shape") && m["input"]["shape"].is_array()) {
      const json& s = m["input"]["shape"];
      if (s.size() == 4) {
        if (s[3].is_number_integer() && s[3].get<int>() > 0) a.input_size = s[3].get<int>();
        if (s[0].is_number_integer() && s[0].get<int>() > 0) a.static_batch = s[0].get<int>();
      }
    }
    if (p.crop != a.input_size)
      throw InputError(folder.string() + ": preprocessing crops to " + std::to_string(p.crop) +
                       " px but the model input is " + std::to_string(a.input_size) + " px");
    if (m.contains("architecture") && m["architecture"].is_object())
      a.num_classes = get_or<int>(m["architecture"], "num_classes", 0);
    if (m.contains("class_names") && m["class_names"].is_array()) {
      for (const auto& n : m["class_names"]) a.class_names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
      if (a.num_classes > 0 && static_cast<int>(a.class_names.size()) != a.num_classes) a.class_names.clear();
    }
    if (m.contains("export") && m["export"].is_object())
      a.optimize_on_cpu = get_or<bool>(m["export"], "optimize_for_inference_on_load", false);
    if (a.kind == "pt2" && m.contains("compile") && m["compile"].is_object() && m["compile"].contains("batch_sizes") &&
        m["compile"]["batch_sizes"].is_array()) {
      for (const auto& b : m["compile"]["batch_sizes"]) {
        if (!b.is_number_integer() || b.get<int>() < 1)
          throw InputError(mpath.string() + ": compile.batch_sizes must be positive integers");
        a.batch_sizes.push_back(b.get<int>());
      }
      std::sort(a.batch_sizes.begin(), a.batch_sizes.end());
      a.batch_sizes.erase(std::unique(a.batch_sizes.begin(), a.batch_sizes.end()), a.batch_sizes.end());
    }
    if (m.contains("quantization") && m["quantization"].is_object())
      a.qengine = get_or<std::string>(m["quantization"], "backend", "");
  } catch (const json::exception& e) {
    throw InputError(mpath.string() + " has a malformed field: " + one_line(e.what()));
  }
  return a;
}

// ------------------------------------------------------------------------------------------------ images
// An 8-bit interleaved image (1 or 3 channels), row-major.
struct Image8 {
  int w = 0, h = 0, c = 0;
  std::vector<uint8_t> px;
  uint8_t* row(int y) { return px.data() + static_cast<size_t>(y) * w * c; }
  const uint8_t* row(int y) const { return px.data() + static_cast<size_t>(y) * w * c; }
};

// Decode, then convert as PIL does: Grayscale -> img.convert("L") (ITU-R 601-2 luma, PIL's fixed-point rounding),
// else img.convert("RGB") (grey replicated); alpha is applied first (premultiplied), as the Python runtime does.
Image8 decode(const std::string& path, bool grayscale) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError("image " + path + " does not exist");
  if (!fs::is_regular_file(path, ec)) throw InputError("image " + path + " is not a file");
  int w = 0, h = 0, n = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &n, 0);
  if (data == nullptr) {
    const char* why = stbi_failure_reason();
    throw InputError(path + " is not a readable image" + (why ? std::string(" (") + why + ")" : std::string()));
  }
  std::unique_ptr<unsigned char, void (*)(void*)> guard(data, stbi_image_free);
  Image8 img;
  img.w = w;
  img.h = h;
  img.c = grayscale ? 1 : 3;
  img.px.resize(static_cast<size_t>(w) * h * img.c);
  const size_t npx = static_cast<size_t>(w) * h;
  const bool has_alpha = n == 2 || n == 4;
  for (size_t i = 0; i < npx; ++i) {
    const unsigned char* raw = data + i * n;
    unsigned char s[4] = {raw[0], n > 1 ? raw[1] : raw[0], n > 2 ? raw[2] : raw[0], 255};
    if (has_alpha) {
      // as the Python runtime (resnet_opt.data.preprocessing): alpha applied, a transparent pixel is black;
      // float64 product, rounded half to even like numpy.round
      const double a = raw[n - 1] / 255.0;
      for (int k = 0; k < (n == 2 ? 1 : 3); ++k)
        s[k] = static_cast<unsigned char>(std::nearbyint(std::clamp(raw[k] * a, 0.0, 255.0)));
    }
    uint8_t* d = img.px.data() + i * img.c;
    const bool color = n >= 3;
    if (grayscale) {
      // Pillow Convert.c: L24(rgb) = rgb[0]*19595 + rgb[1]*38470 + rgb[2]*7471 + 0x8000, >> 16
      d[0] = color ? static_cast<uint8_t>((s[0] * 19595u + s[1] * 38470u + s[2] * 7471u + 0x8000u) >> 16) : s[0];
    } else {
      d[0] = s[0];
      d[1] = color ? s[1] : s[0];
      d[2] = color ? s[2] : s[0];
    }
  }
  return img;
}

// Pillow's resampling (libImaging/Resample.c): separable, the filter support scaled by the reduction factor
// (antialias), coefficients normalised then held in 22-bit fixed point, a uint8 result after each pass,
// horizontal pass first. torchvision's Resize on a PIL image calls exactly this.
constexpr int kPrecisionBits = 32 - 8 - 2;

double filter_bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}
double filter_bicubic(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;   // per output: xmin, count
  std::vector<int32_t> kk;   // fixed point, ksize per output
};

Coeffs precompute_coeffs(int in_size, double in0, double in1, int out_size, double (*filter)(double), double support0) {
  Coeffs c;
  double scale = (in1 - in0) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = support0 * filterscale;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.bounds.resize(static_cast<size_t>(out_size) * 2);
  std::vector<double> kd(static_cast<size_t>(out_size) * c.ksize, 0.0);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double* k = &kd[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      double w = filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x)
      if (ww != 0.0) k[x] /= ww;
    c.bounds[xx * 2] = xmin;
    c.bounds[xx * 2 + 1] = xmax;
  }
  c.kk.resize(kd.size());
  for (size_t i = 0; i < kd.size(); ++i)  // normalize_coeffs_8bpc
    c.kk[i] = kd[i] < 0 ? static_cast<int32_t>(-0.5 + kd[i] * (1 << kPrecisionBits))
                        : static_cast<int32_t>(0.5 + kd[i] * (1 << kPrecisionBits));
  return c;
}

inline uint8_t clip8(int64_t in) {
  if (in >= (static_cast<int64_t>(1) << kPrecisionBits << 8)) return 255;
  if (in <= 0) return 0;
  return static_cast<uint8_t>(in >> kPrecisionBits);
}

Image8 resize_nearest(const Image8& in, int ow, int oh) {
  // Pillow: an affine transform sampling the source pixel under each output pixel's centre
  Image8 out{ow, oh, in.c, std::vector<uint8_t>(static_cast<size_t>(ow) * oh * in.c)};
  const double sx = static_cast<double>(in.w) / ow, sy = static_cast<double>(in.h) / oh;
  for (int y = 0; y < oh; ++y) {
    int iy = std::min(in.h - 1, static_cast<int>((y + 0.5) * sy));
    for (int x = 0; x < ow; ++x) {
      int ix = std::min(in.w - 1, static_cast<int>((x + 0.5) * sx));
      for (int ch = 0; ch < in.c; ++ch) out.row(y)[x * in.c + ch] = in.row(iy)[ix * in.c + ch];
    }
  }
  return out;
}

Image8 resize(const Image8& in, int ow, int oh, const std::string& interpolation) {
  if (ow == in.w && oh == in.h) return in;
  if (interpolation == "nearest") return resize_nearest(in, ow, oh);
  auto filter = interpolation == "bicubic" ? filter_bicubic : filter_bilinear;
  double support = interpolation == "bicubic" ? 2.0 : 1.0;
  const bool need_h = ow != in.w, need_v = oh != in.h;
  Coeffs ch = precompute_coeffs(in.w, 0.0, in.w, ow, filter, support);
  Coeffs cv = precompute_coeffs(in.h, 0.0, in.h, oh, filter, support);
  const int C = in.c;
  Image8 cur = in;
  if (need_h) {
    // only the rows the vertical pass reads
    int y_first = cv.bounds[0];
    int y_last = cv.bounds[oh * 2 - 2] + cv.bounds[oh * 2 - 1];
    if (!need_v) y_first = 0, y_last = in.h;
    Image8 tmp{ow, y_last - y_first, C, std::vector<uint8_t>(static_cast<size_t>(ow) * (y_last - y_first) * C)};
    for (int y = 0; y < tmp.h; ++y) {
      const uint8_t* src = in.row(y + y_first);
      uint8_t* dst = tmp.row(y);
      for (int xx = 0; xx < ow; ++xx) {
        const int xmin = ch.bounds[xx * 2], xn = ch.bounds[xx * 2 + 1];
        const int32_t* k = &ch.kk[static_cast<size_t>(xx) * ch.ksize];
        for (int c = 0; c < C; ++c) {
          int64_t ss = 1 << (kPrecisionBits - 1);
          for (int x = 0; x < xn; ++x) ss += static_cast<int64_t>(src[(x + xmin) * C + c]) * k[x];
          dst[xx * C + c] = clip8(ss);
        }
      }
    }
    if (need_v)
      for (int yy = 0; yy < oh; ++yy) cv.bounds[yy * 2] -= y_first;
    cur = std::move(tmp);
  }
  if (!need_v) return cur;
  Image8 out{cur.w, oh, C, std::vector<uint8_t>(static_cast<size_t>(cur.w) * oh * C)};
  for (int yy = 0; yy < oh; ++yy) {
    const int ymin = cv.bounds[yy * 2], yn = cv.bounds[yy * 2 + 1];
    const int32_t* k = &cv.kk[static_cast<size_t>(yy) * cv.ksize];
    uint8_t* dst = out.row(yy);
    for (int xx = 0; xx < cur.w * C; ++xx) {
      int64_t ss = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < yn; ++y) ss += static_cast<int64_t>(cur.row(y + ymin)[xx]) * k[y];
      dst[xx] = clip8(ss);
    }
  }
  return out;
}

// torchvision.transforms.functional.center_crop: zero padding when the crop is larger, top/left offsets rounded
// with Python's round() (half to even).
Image8 center_crop(const Image8& in, int cw, int chh) {
  Image8 src = in;
  if (cw > in.w || chh > in.h) {
    int pl = cw > in.w ? (cw - in.w) / 2 : 0, pt = chh > in.h ? (chh - in.h) / 2 : 0;
    int pr = cw > in.w ? (cw - in.w + 1) / 2 : 0, pb = chh > in.h ? (chh - in.h + 1) / 2 : 0;
    Image8 p{in.w + pl + pr, in.h + pt + pb, in.c, {}};
    p.px.assign(static_cast<size_t>(p.w) * p.h * p.c, 0);
    for (int y = 0; y < in.h; ++y)
      std::copy(in.row(y), in.row(y) + in.w * in.c, p.row(y + pt) + pl * in.c);
    src = std::move(p);
    if (src.w == cw && src.h == chh) return src;
  }
  if (src.w == cw && src.h == chh) return src;
  const int top = static_cast<int>(std::nearbyint((src.h - chh) / 2.0));
  const int left = static_cast<int>(std::nearbyint((src.w - cw) / 2.0));
  Image8 out{cw, chh, src.c, std::vector<uint8_t>(static_cast<size_t>(cw) * chh * src.c)};
  for (int y = 0; y < chh; ++y)
    std::copy(src.row(y + top) + left * src.c, src.row(y + top) + (left + cw) * src.c, out.row(y));
  return out;
}

// The whole transform of Preprocessing.transform(): -> float32 [3, crop, crop]
torch::Tensor preprocess(const std::string& path, const Preprocessing& p) {
  Image8 img = decode(path, p.grayscale);
  int ow, oh;
  if (p.square) {
    ow = oh = p.resize;
  } else {  // torchvision _compute_resized_output_size: shorter side -> resize, longer side truncated
    const int shorter = std::min(img.w, img.h), longer = std::max(img.w, img.h);
    const int new_long = static_cast<int>(static_cast<long long>(p.resize) * longer / shorter);
    if (img.w <= img.h) ow = p.resize, oh = new_long;
    else ow = new_long, oh = p.resize;
  }
  img = resize(img, ow, oh, p.interpolation);
  if (p.crop != p.resize || !p.square) img = center_crop(img, p.crop, p.crop);
  torch::Tensor t = torch::empty({3, img.h, img.w}, torch::kFloat32);
  float* d = t.data_ptr<float>();
  const size_t plane = static_cast<size_t>(img.w) * img.h;
  for (int ch = 0; ch < 3; ++ch) {
    const int src_c = img.c == 1 ? 0 : ch;  // Grayscale(num_output_channels=3) replicates the L channel
    for (size_t i = 0; i < plane; ++i) {
      float v = static_cast<float>(img.px[i * img.c + src_c]) / 255.0f;  // ToTensor
      d[ch * plane + i] = (v - p.mean[ch]) / p.std[ch];                   // Normalize
    }
  }
  return t;
}

// ------------------------------------------------------------------------------------------------ model
class Model {
 public:
  Model(const Artifact& a, const torch::Device& device) : art_(a), device_(device) {
    if (a.kind == "torchscript") {
      if (!a.qengine.empty()) set_qengine(a.qengine);
      try {
        module_ = torch::jit::load(a.model_file.string(), device);
        module_->eval();
      } catch (const std::exception& e) {
        throw ModelError(a.model_file.string() + " is not a loadable TorchScript file: " + torch_message(e));
      }
      if (a.optimize_on_cpu && device.is_cpu()) {
        try {  // recorded at export when faster on the exporting CPU (as resnet_opt.runtime.load applies it)
          module_ = torch::jit::optimize_for_inference(*module_);
          optimized_ = true;
        } catch (const std::exception& e) {
          throw ModelError(a.model_file.string() + ": optimize_for_inference failed: " + torch_message(e));
        }
      }
    } else {
      const int dev_index = device.is_cuda() ? device.index() : -1;
      try {
        if (a.batch_sizes.empty()) {
          pt2_[a.static_batch] = std::make_unique<torch::inductor::AOTIModelPackageLoader>(a.model_file.string(),
                                                                                          "model", false, 1, dev_index);
        } else {
          for (int b : a.batch_sizes)  // one compiled model per batch size (see resnet_opt/export/pt2_export.py)
            pt2_[b] = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
                a.model_file.string(), "batch" + std::to_string(b), false, 1, dev_index);
        }
      } catch (const std::exception& e) {
        throw ModelError(a.model_file.string() + " is not a loadable AOTInductor package: " + torch_message(e));
      }
    }
  }

  // the chunks a batch of n runs as on static models of `sizes` (ascending): (start, count, size), the same plan as
  // resnet_opt.export.pt2_export.plan_chunks: the largest size that fits; a remainder padded onto the next larger
  // size when it fills more than half of it
  static std::vector<std::array<int64_t, 3>> plan_chunks(int64_t n, const std::vector<int>& sizes) {
    std::vector<std::array<int64_t, 3>> out;
    int64_t i = 0;
    while (i < n) {
      const int64_t r = n - i;
      int64_t fit = 0, up = 0;
      for (int s : sizes) {
        if (s <= r) fit = s;
        if (s >= r && up == 0) up = s;
      }
      if (up > 0 && (up == r || fit == 0 || 2 * r > up)) {
        out.push_back({i, r, up});
        i = n;
      } else {
        out.push_back({i, fit, fit});
        i += fit;
      }
    }
    return out;
  }

  // float32 logits [N, classes] on the CPU for a float32 CPU batch [N, 3, S, S]
  torch::Tensor logits(const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    const int64_t n = x.size(0);
    std::vector<int> sizes = art_.batch_sizes;
    if (sizes.empty() && art_.static_batch > 0) sizes.push_back(art_.static_batch);
    if (!sizes.empty() && std::find(sizes.begin(), sizes.end(), n) == sizes.end()) {
      // static models: chunks of their batch sizes, a short chunk padded with its last image
      std::vector<torch::Tensor> outs;
      for (const auto& c : plan_chunks(n, sizes)) {
        const int64_t start = c[0], k = c[1], sb = c[2];
        torch::Tensor chunk = x.slice(0, start, start + k);
        if (k < sb) chunk = torch::cat({chunk, chunk.slice(0, k - 1, k).expand({sb - k, x.size(1), x.size(2), x.size(3)})});
        outs.push_back(forward(chunk).slice(0, 0, k));
      }
      return torch::cat(outs);
    }
    return forward(x);
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor in = x.to(device_);
    torch::Tensor y;
    if (module_) {
      torch::IValue out = module_->forward({in});
      if (out.isTuple()) out = out.toTupleRef().elements()[0];
      else if (out.isList()) out = out.toListRef()[0];
      y = out.toTensor();
    } else {
      auto it = pt2_.find(static_cast<int>(x.size(0)));
      if (it == pt2_.end()) it = pt2_.find(0);  // the dynamic model
      if (it == pt2_.end()) throw ModelError("no model of the package serves a batch of " + std::to_string(x.size(0)));
      std::vector<torch::Tensor> outs = it->second->run({in});
      if (outs.empty()) throw ModelError("the AOTInductor package returned no output");
      y = outs[0];
      if (y.dim() < 1 || y.size(0) != x.size(0))
        throw ModelError("the AOTInductor package answered " + std::to_string(y.dim() ? y.size(0) : 0) +
                         " rows for a batch of " + std::to_string(x.size(0)));
    }
    return y.to(torch::kCPU, torch::kFloat32);  // synchronises on CUDA
  }

  bool optimized() const { return optimized_; }

 private:
  static void set_qengine(const std::string& name) {
    at::QEngine e;
    if (name == "x86") e = at::QEngine::X86;
    else if (name == "fbgemm") e = at::QEngine::FBGEMM;
    else if (name == "qnnpack") e = at::QEngine::QNNPACK;
    else if (name == "onednn") e = at::QEngine::ONEDNN;
    else return;
    const auto& ok = at::globalContext().supportedQEngines();
    if (std::find(ok.begin(), ok.end(), e) == ok.end())
      throw ModelError("the artifact needs the quantized engine '" + name + "', which this libtorch lacks");
    at::globalContext().setQEngine(e);
  }

  Artifact art_;
  torch::Device device_;
  std::optional<torch::jit::Module> module_;
  std::map<int, std::unique_ptr<torch::inductor::AOTIModelPackageLoader>> pt2_;  // by batch size (0: dynamic)
  bool optimized_ = false;
};

// ------------------------------------------------------------------------------------------------ output
double percentile(std::vector<double> v, double q) {  // numpy's default (linear interpolation)
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0.0;
  double idx = q / 100.0 * (v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(idx)), hi = static_cast<size_t>(std::ceil(idx));
  return v[lo] + (v[hi] - v[lo]) * (idx - lo);
}

std::string fmt(double v, int prec) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(prec);
  s << v;
  return s.str();
}

class QuietWarnings : public c10::WarningHandler {
 public:
  void process(const c10::Warning&) override {}
};

int run(const Options& o) {
  Artifact art = read_artifact(o.artifact);
  if (o.threads > 0) at::set_num_threads(o.threads);
  torch::Device device(torch::kCPU);
  if (o.device == "cuda") {
    if (!torch::cuda::is_available())
      throw InputError("--device cuda: no CUDA device is available to this libtorch (CPU-only build or no GPU)");
    device = torch::Device(torch::kCUDA, 0);
  }
  // decode every image before loading the model: a bad image fails fast
  std::vector<torch::Tensor> inputs;
  std::vector<std::string> sources = o.images;
  for (const auto& path : o.images) inputs.push_back(preprocess(path, art.pre));
  if (!o.raw.empty()) {
    std::error_code ec;
    if (!fs::is_regular_file(o.raw, ec)) throw InputError("raw input " + o.raw + " does not exist");
    const uintmax_t bytes = fs::file_size(o.raw, ec);
    const uintmax_t per = 3ull * art.input_size * art.input_size * sizeof(float);
    if (bytes == 0 || bytes % per != 0)
      throw InputError("raw input " + o.raw + " is not a whole number of float32 [3, " + std::to_string(art.input_size) +
                       ", " + std::to_string(art.input_size) + "] images");
    const int64_t n = static_cast<int64_t>(bytes / per);
    torch::Tensor raw = torch::empty({n, 3, art.input_size, art.input_size}, torch::kFloat32);
    std::ifstream f(o.raw, std::ios::binary);
    if (!f.read(reinterpret_cast<char*>(raw.data_ptr<float>()), static_cast<std::streamsize>(bytes)))
      throw InputError("cannot read raw input " + o.raw);
    for (int64_t i = 0; i < n; ++i) {
      inputs.push_back(raw[i]);
      sources.push_back("<raw " + std::to_string(i) + ">");
    }
  }

  if (!o.dump_input.empty()) {  // a check of the preprocessing alone: the model is not loaded
    if (inputs.empty()) throw UsageError("--dump-input needs image files");
    torch::Tensor all = torch::stack(inputs).contiguous();
    std::ofstream f(o.dump_input, std::ios::binary);
    if (!f || !f.write(reinterpret_cast<const char*>(all.data_ptr<float>()),
                       static_cast<std::streamsize>(all.numel() * sizeof(float))))
      throw InputError("cannot write " + o.dump_input);
    return 0;
  }

  auto t0 = std::chrono::steady_clock::now();
  Model model(art, device);
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  json out = {{"runner", std::string("resnet-opt-runner ") + kVersion},
              {"libtorch", TORCH_VERSION},
              {"artifact", art.folder.string()},
              {"kind", art.kind},
              {"precision", art.precision},
              {"device", device.str()},
              {"threads", at::get_num_threads()},
              {"input_size", art.input_size},
              {"optimized_for_inference", model.optimized()},
              {"load_ms", load_ms}};

  if (!inputs.empty()) {
    json preds = json::array();
    for (size_t start = 0; start < inputs.size(); start += kPredictBatch) {
      const size_t end = std::min(inputs.size(), start + kPredictBatch);
      std::vector<torch::Tensor> chunk(inputs.begin() + start, inputs.begin() + end);
      torch::Tensor logits;
      try {
        logits = model.logits(torch::stack(chunk));
      } catch (const ModelError&) {
        throw;
      } catch (const std::exception& e) {
        throw ModelError("inference failed: " + torch_message(e));
      }
      if (logits.dim() != 2 || logits.size(0) != static_cast<int64_t>(chunk.size()))
        throw ModelError("the model returned logits of unexpected shape");
      if (art.num_classes > 0 && logits.size(1) != art.num_classes)
        throw ModelError("the manifest says " + std::to_string(art.num_classes) + " classes but the model outputs " +
                         std::to_string(logits.size(1)));
      torch::Tensor probs = torch::softmax(logits, 1);
      const int64_t k = std::min<int64_t>(o.top_k, probs.size(1));
      auto [p, idx] = probs.topk(k, 1);
      for (size_t i = 0; i < chunk.size(); ++i) {
        json item = {{"source", sources[start + i]}};
        json ind = json::array(), pr = json::array(), names = json::array();
        for (int64_t j = 0; j < k; ++j) {
          int64_t c = idx[i][j].item<int64_t>();
          ind.push_back(c);
          pr.push_back(p[i][j].item<float>());
          if (!art.class_names.empty()) names.push_back(art.class_names[c]);
        }
        item["indices"] = ind;
        item["probabilities"] = pr;
        item["names"] = art.class_names.empty() ? json(nullptr) : names;
        if (o.logits) {
          torch::Tensor row = logits[i].contiguous();
          item["logits"] = std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
        }
        preds.push_back(item);
      }
    }
    out["predictions"] = preds;
  }

  if (o.bench) {
    std::mt19937 gen(0);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    torch::Tensor x = torch::empty({o.batch, 3, art.input_size, art.input_size}, torch::kFloat32);
    float* xd = x.data_ptr<float>();
    for (int64_t i = 0; i < x.numel(); ++i) xd[i] = nd(gen);
    std::vector<double> ms;
    double first_ms = 0.0;
    try {
      auto f0 = std::chrono::steady_clock::now();
      model.logits(x);
      first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - f0).count();
      for (int i = 0; i < o.warmup; ++i) model.logits(x);
      for (int i = 0; i < o.iters; ++i) {
        auto s = std::chrono::steady_clock::now();
        model.logits(x);  // host in, host out (the CUDA copy back synchronises)
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count());
      }
    } catch (const std::exception& e) {
      throw ModelError("inference failed: " + torch_message(e));
    }
    double mean = 0, sq = 0;
    for (double v : ms) mean += v;
    mean /= ms.size();
    for (double v : ms) sq += (v - mean) * (v - mean);
    out["bench"] = {{"batch_size", o.batch},
                    {"warmup", o.warmup},
                    {"iterations", o.iters},
                    {"first_ms", first_ms},
                    {"mean_ms", mean},
                    {"p50_ms", percentile(ms, 50)},
                    {"p90_ms", percentile(ms, 90)},
                    {"p99_ms", percentile(ms, 99)},
                    {"min_ms", *std::min_element(ms.begin(), ms.end())},
                    {"max_ms", *std::max_element(ms.begin(), ms.end())},
                    {"std_ms", std::sqrt(sq / ms.size())},
                    {"throughput_ips", mean > 0 ? o.batch * 1000.0 / mean : 0.0},
                    {"samples_ms", ms}};
  }

  if (o.json) {
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  std::cout << art.folder.string() << ": " << art.kind << " " << art.precision << " on " << device.str() << ", "
            << at::get_num_threads() << " threads, loaded in " << fmt(load_ms, 1) << " ms\n";
  if (out.contains("predictions")) {
    for (const auto& item : out["predictions"]) {
      std::cout << item["source"].get<std::string>() << "\n";
      for (size_t j = 0; j < item["indices"].size(); ++j) {
        std::string label = item["names"].is_null() ? std::to_string(item["indices"][j].get<int64_t>())
                                                    : item["names"][j].get<std::string>();
        std::cout << "  " << (j + 1) << ". " << label << "  " << fmt(item["probabilities"][j].get<double>(), 6) << "\n";
      }
    }
  }
  if (out.contains("bench")) {
    const json& b = out["bench"];
    std::cout << "bench: batch " << o.batch << ", " << o.warmup << " warm-up + " << o.iters << " timed runs: p50 "
              << fmt(b["p50_ms"].get<double>(), 3) << " ms, p90 " << fmt(b["p90_ms"].get<double>(), 3) << " ms, p99 "
              << fmt(b["p99_ms"].get<double>(), 3) << " ms, mean " << fmt(b["mean_ms"].get<double>(), 3) << " ms, "
              << fmt(b["throughput_ips"].get<double>(), 1) << " images/s (first run " << fmt(b["first_ms"].get<double>(), 1)
              << " ms)\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse_args(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "error: " << one_line(e.what()) << std::endl;
    return 2;
  }
  QuietWarnings quiet;
  if (!o.verbose) c10::WarningUtils::set_warning_handler(&quiet);
  try {
    return run(o);
  } catch (const UsageError& e) {
    std::cerr << "error: " << one_line(e.what()) << std::endl;
    return 2;
  } catch (const InputError& e) {
    std::cerr << "error: " << one_line(e.what()) << std::endl;
    return 2;
  } catch (const ModelError& e) {
    std::cerr << "error: " << one_line(e.what()) << std::endl;
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "error: " << torch_message(e) << std::endl;
    return 3;
  } catch (...) {
    std::cerr << "error: unknown failure" << std::endl;
    return 3;
  }
}
