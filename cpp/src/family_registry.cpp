#include <map>
#include <string>

#include "facedge/error.h"
#include "facedge/family.h"

namespace facedge {

static std::map<std::string, FamilySpec>& registry()
{
    static std::map<std::string, FamilySpec> families; // constructed on first use, before any registration
    return families;
}

FamilyRegistration::FamilyRegistration(const FamilySpec& spec)
{
    registry()[spec.name] = spec;
}

std::vector<std::string> family_names()
{
    std::vector<std::string> names;
    for (const auto& kv : registry())
        names.push_back(kv.first);
    return names;
}

const FamilySpec& find_family(const std::string& name)
{
    auto it = registry().find(name);
    if (it == registry().end())
    {
        std::string known;
        for (const auto& n : family_names())
            known += (known.empty() ? "" : ", ") + n;
        throw Error("unknown model family '" + name + "' (expected one of: " + known + ")");
    }
    return it->second;
}

} // namespace facedge
