// dagrad ops: the op registry as a table (or JSON lines with --json).
#include <nlohmann/json.hpp>

#include <iostream>

#include "graph/op.h"
#include "tools/cli.h"

namespace dagrad::cli {

int run_ops(const std::vector<std::string>& args) {
  po::options_description options("options");
  options.add_options()("json", "one JSON object per op");
  po::variables_map vm;
  if (!parse("ops", "[--json]", options, {}, args, vm)) return kExitOk;
  bool json = vm.count("json") > 0;
  auto list = [](const std::vector<std::string>& names) {
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
    return s;
  };
  for (const OpDef* def : op_registry().all()) {
    std::vector<std::string> attrs;
    for (const AttrSpec& a : def->attrs)
      attrs.push_back(a.name + ":" + attr_type_name(a.type) + (a.required ? "" : "=" + to_string(a.default_value)));
    if (json) {
      // ordered_json keeps the fields in this order; nlohmann escapes what an attribute's default holds.
      const nlohmann::ordered_json row = {{"op", def->name},           {"version", def->version},
                                          {"inputs", def->inputs},     {"outputs", def->outputs},
                                          {"attrs", attrs},            {"differentiable", def->differentiable()}};
      std::cout << row.dump() << "\n";
    } else {
      std::cout << def->name << "(" << list(def->inputs) << ") -> (" << list(def->outputs) << ")";
      if (!attrs.empty()) std::cout << "  attrs: " << list(attrs);
      std::cout << (def->differentiable() ? "" : "  [no gradient]") << "\n    " << def->doc << "\n";
    }
  }
  return kExitOk;
}

}  // namespace dagrad::cli
