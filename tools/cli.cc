#include "tools/cli.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>
#include <typeinfo>

#include "models/zoo.h"

namespace dagrad::cli {

namespace {

std::string key_of(const std::string& flag) { return flag.rfind("--", 0) == 0 ? flag.substr(2) : flag; }

// Checks `text` for an integer option of type T with std::from_chars (all of it must be read);
// Boost's lexical_cast would wrap "-1" into an unsigned type without a word.
template <class T> void check_integer_text(const std::string& shown, const std::string& text) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+') ++first;
  constexpr bool is_unsigned = std::numeric_limits<T>::min() == 0;
  if (is_unsigned && first != last && *first == '-')
    throw UsageError(shown + " must be a non-negative integer, got '" + text + "'");
  T value{};
  auto [end, ec] = std::from_chars(first, last, value);
  if (first == last || (ec != std::errc() && ec != std::errc::result_out_of_range) || end != last)
    throw UsageError(shown + " must be " + (is_unsigned ? "a non-negative integer" : "an integer") + ", got '" + text + "'");
  if (ec == std::errc::result_out_of_range)
    throw UsageError(shown + " must be an integer from " + std::to_string(std::numeric_limits<T>::min()) + " to " +
                     std::to_string(std::numeric_limits<T>::max()) + ", got '" + text + "'");
}

void check_number_text(const std::string& shown, const std::string& text) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (first != last && *first == '+') ++first;
  double value = 0;
  auto [end, ec] = std::from_chars(first, last, value);
  if (first == last || ec == std::errc::invalid_argument || end != last)
    throw UsageError(shown + " must be a number, got '" + text + "'");
  if (ec == std::errc::result_out_of_range) throw UsageError(shown + " is out of the range of a double, got '" + text + "'");
}

// Checks the raw text of every numeric option before Boost converts it.
void check_numeric_texts(const po::options_description& all, const po::parsed_options& parsed) {
  for (const po::option& opt : parsed.options) {
    if (opt.unregistered || opt.string_key.empty()) continue;
    const po::option_description* d = all.find_nothrow(opt.string_key, false);
    if (!d) continue;
    const po::value_semantic* semantic = d->semantic().get();
    const std::string shown = opt.position_key >= 0 ? opt.string_key : "--" + opt.string_key;
    for (const std::string& text : opt.value) {
      if (dynamic_cast<const po::typed_value<std::int64_t>*>(semantic)) check_integer_text<std::int64_t>(shown, text);
      else if (dynamic_cast<const po::typed_value<int>*>(semantic)) check_integer_text<int>(shown, text);
      else if (dynamic_cast<const po::typed_value<std::uint64_t>*>(semantic)) check_integer_text<std::uint64_t>(shown, text);
      else if (dynamic_cast<const po::typed_value<unsigned>*>(semantic)) check_integer_text<unsigned>(shown, text);
      else if (dynamic_cast<const po::typed_value<double>*>(semantic)) check_number_text(shown, text);
    }
  }
}

const po::variable_value& value_of(const po::variables_map& vm, const std::string& key) {
  auto it = vm.find(key);
  if (it == vm.end() || it->second.empty())
    throw std::logic_error("dagrad::cli: option --" + key + " has no value (not registered or no default)");
  return it->second;
}

std::int64_t integer_of(const po::variables_map& vm, const std::string& key) {
  const po::variable_value& v = value_of(vm, key);
  const std::type_info& type = v.value().type();
  if (type == typeid(std::int64_t)) return v.as<std::int64_t>();
  if (type == typeid(int)) return v.as<int>();
  if (type == typeid(unsigned)) return v.as<unsigned>();
  if (type == typeid(std::uint64_t)) {
    std::uint64_t u = v.as<std::uint64_t>();
    return u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ? std::numeric_limits<std::int64_t>::max()
                                                                                     : static_cast<std::int64_t>(u);
  }
  throw std::logic_error("dagrad::cli: option --" + key + " is not an integer option");
}

}  // namespace

bool parse(const std::string& command, const std::string& synopsis, const po::options_description& options,
           const po::positional_options_description& positional, const std::vector<std::string>& args,
           po::variables_map& vm) {
  po::options_description all;
  all.add_options()("help,h", "show this help and exit");
  all.add(options);
  try {
    po::parsed_options parsed = po::command_line_parser(args).options(all).positional(positional).run();
    bool help = false;
    for (const po::option& opt : parsed.options) help |= opt.string_key == "help";
    if (help) {
      std::cout << "usage: dagrad " << command << " " << synopsis << "\n\n" << all << "\n";
      return false;
    }
    check_numeric_texts(all, parsed);
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  return true;
}

std::int64_t int_at_least(const po::variables_map& vm, const std::string& flag, std::int64_t minimum) {
  const std::string key = key_of(flag);
  std::int64_t v = integer_of(vm, key);
  if (v < minimum)
    throw UsageError("--" + key + " must be at least " + std::to_string(minimum) + ", got " + std::to_string(v));
  return v;
}

std::int64_t int_in(const po::variables_map& vm, const std::string& flag, std::int64_t low, std::int64_t high) {
  const std::string key = key_of(flag);
  std::int64_t v = integer_of(vm, key);
  if (v < low || v > high)
    throw UsageError("--" + key + " must be from " + std::to_string(low) + " to " + std::to_string(high) + ", got " +
                     std::to_string(v));
  return v;
}

int threads_option(const po::variables_map& vm) {
  std::int64_t v = integer_of(vm, "threads");
  if (v < 0 || v > 1024) throw UsageError("--threads must be 0 (all cores) or from 1 to 1024, got " + std::to_string(v));
  return static_cast<int>(v);
}

double finite_in(const po::variables_map& vm, const std::string& flag, double low, double high, bool high_inclusive) {
  const std::string key = key_of(flag);
  double v = value_of(vm, key).as<double>();
  if (!std::isfinite(v)) throw UsageError("--" + key + " must be a finite number, got " + shortest(v));
  if (v < low || v > high || (!high_inclusive && v == high))
    throw UsageError("--" + key + " must be in [" + shortest(low) + ", " + shortest(high) + (high_inclusive ? "]" : ")") +
                     ", got " + shortest(v));
  return v;
}

void require_one_of(const std::string& flag, const std::string& value, const std::vector<std::string>& valid) {
  for (const std::string& v : valid)
    if (v == value) return;
  std::string list;
  for (std::size_t i = 0; i < valid.size(); ++i) list += (i ? ", " : "") + valid[i];
  throw UsageError("unknown --" + key_of(flag) + " '" + value + "'; valid: " + list);
}

void require_zoo_model(const std::string& name) {
  std::vector<std::string> names;
  for (const models::ZooEntry& entry : models::zoo_models()) names.push_back(entry.name);
  require_one_of("model", name, names);
}

std::string shortest(double value) {
  char buffer[64];
  // The shortest round trip in %g style: "0.0005" (where the plain shortest form is "5e-04"), "1e-05".
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general);
  return ec == std::errc() ? std::string(buffer, end) : std::string("?");
}

po::typed_value<double>* number_value(double default_value) {
  return po::value<double>()->default_value(default_value, shortest(default_value));
}

bool stdout_is_terminal() { return isatty(STDOUT_FILENO) == 1; }
bool stderr_is_terminal() { return isatty(STDERR_FILENO) == 1; }

}  // namespace dagrad::cli
