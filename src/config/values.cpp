// Scalar values: parsing and printing ints, floats, bools, enums, int and float lists, and ranges.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include "internal.h"

namespace pfedhn::config {
namespace detail {
namespace {

// Drops one leading '+' (valid YAML) unless a sign or nothing follows it.
std::string_view strip_plus(std::string_view s) {
  if (s.size() > 1 && s[0] == '+' && s[1] != '-' && s[1] != '+') s.remove_prefix(1);
  return s;
}

bool is_yaml_non_finite(std::string_view s) {
  static const std::array<std::string_view, 12> kSpellings{".inf",  ".Inf",  ".INF",  "+.inf",
                                                           "+.Inf", "+.INF", "-.inf", "-.Inf",
                                                           "-.INF", ".nan",  ".NaN",  ".NAN"};
  return std::find(kSpellings.begin(), kSpellings.end(), s) != kSpellings.end();
}

}  // namespace

int64_t parse_int(const std::string& text) {
  const std::string_view s = strip_plus(text);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  const bool whole = !s.empty() && end == s.data() + s.size();
  if (ec == std::errc::result_out_of_range) {
    throw BadValue("expected an integer within the int64 range");
  }
  if (ec != std::errc() || !whole) {
    throw BadValue("expected an integer (decimal digits only, no decimal point or exponent)");
  }
  return value;
}

uint64_t parse_non_negative_int(const std::string& text) {
  const std::string_view s = strip_plus(text);
  const char* kExpected = "expected a non-negative integer (decimal digits only)";
  if (!s.empty() && s[0] == '-') throw BadValue(kExpected);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range) {
    throw BadValue("expected a non-negative integer no larger than 18446744073709551615");
  }
  if (ec != std::errc() || s.empty() || end != s.data() + s.size()) throw BadValue(kExpected);
  return value;
}

double parse_float(const std::string& text) {
  const std::string_view s = strip_plus(text);
  const char* kNotFinite = "expected a finite number (NaN and infinity are not allowed)";
  double value = 0;
  const auto [end, ec] =
      std::from_chars(s.data(), s.data() + s.size(), value, std::chars_format::general);
  const bool whole = !s.empty() && end == s.data() + s.size();
  if (ec == std::errc() && whole) {
    if (!std::isfinite(value)) throw BadValue(kNotFinite);
    return value;
  }
  if (ec == std::errc::result_out_of_range && whole) {
    throw BadValue("expected a number within the double range");
  }
  if (is_yaml_non_finite(s)) throw BadValue(kNotFinite);
  throw BadValue("expected a number, e.g. 0.01 or 5e-3");
}

bool parse_bool(const std::string& text) {
  bool value = false;
  if (!YAML::convert<bool>::decode(YAML::Node(text), value)) {
    throw BadValue("expected true or false");
  }
  return value;
}

std::string format_double(double value) {
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  std::string text(buf.data(), ec == std::errc() ? end : buf.data());
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

bool Range::contains(double v) const {
  if (lo && (lo_open ? v <= *lo : v < *lo)) return false;
  if (hi && (hi_open ? v >= *hi : v > *hi)) return false;
  return true;
}

std::string Range::describe() const {
  const auto num = [](double v) {
    std::string text = format_double(v);
    if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0)
      text.resize(text.size() - 2);
    return text;
  };
  if (lo && hi) {
    return "must be in " + std::string(lo_open ? "(" : "[") + num(*lo) + ", " + num(*hi) +
           (hi_open ? ")" : "]");
  }
  if (lo) return std::string("must be ") + (lo_open ? "> " : ">= ") + num(*lo);
  if (hi) return std::string("must be ") + (hi_open ? "< " : "<= ") + num(*hi);
  return "";
}

std::string int_list_text(const std::vector<int64_t>& values) {
  std::string out;
  for (const int64_t v : values) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return "[" + out + "]";
}

namespace {

// Splits "[a, b, c]", "a,b,c", "[]" or "" (the empty list) and parses each item with `parse`;
// any bad item throws BadValue(expected).
template <typename T, typename Parse>
std::vector<T> parse_list(const std::string& text, const char* expected, Parse parse) {
  std::string_view s(text);
  const auto trim_view = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  s = trim_view(s);
  if (!s.empty() && s.front() == '[') {
    if (s.back() != ']') throw BadValue(expected);
    s = trim_view(s.substr(1, s.size() - 2));
  }
  std::vector<T> out;
  if (s.empty()) return out;
  for (;;) {
    const size_t comma = s.find(',');
    const std::string item(trim_view(s.substr(0, comma)));
    try {
      out.push_back(parse(item));
    } catch (const BadValue&) {
      throw BadValue(expected);
    }
    if (comma == std::string_view::npos) return out;
    s.remove_prefix(comma + 1);
  }
}

}  // namespace

std::vector<int64_t> parse_int_list(const std::string& text) {
  return parse_list<int64_t>(text, "expected a list of integers, e.g. [8, 16, 32]", parse_int);
}

std::vector<double> parse_float_list(const std::string& text) {
  return parse_list<double>(text, "expected a list of numbers, e.g. [0.1, 1, 10]", parse_float);
}

std::string float_list_text(const std::vector<double>& values) {
  std::string out;
  for (const double v : values) out += (out.empty() ? "" : ", ") + format_double(v);
  return "[" + out + "]";
}

}  // namespace detail

std::string to_string(Algorithm a) {
  return detail::enum_name(a);
}
std::string to_string(PartitionKind p) {
  return detail::enum_name(p);
}
std::string to_string(TestSplit t) {
  return detail::enum_name(t);
}
std::string to_string(DeviceKind d) {
  return detail::enum_name(d);
}
std::string to_string(NovelAdapt a) {
  return detail::enum_name(a);
}
std::string to_string(ClassShares c) {
  return detail::enum_name(c);
}
std::string to_string(NovelScheme n) {
  return detail::enum_name(n);
}

}  // namespace pfedhn::config
