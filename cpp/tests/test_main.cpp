#include <cstdlib>
#include <fstream>

#include "test.h"

namespace facedge_test {

std::vector<TestCase>& registry()
{
    static std::vector<TestCase> tests;
    return tests;
}

std::string shared_dir()
{
    const char* env = std::getenv("FACEDGE_SHARED");
    std::string dir = env ? env : "../shared";
    std::ifstream probe(dir + "/README.md");
    if (!probe && env)
        throw Failure{"FACEDGE_SHARED=" + dir + " holds no shared data folder (no README.md there)"};
    return probe ? dir : std::string();
}

} // namespace facedge_test

int main(int argc, char** argv)
{
    const std::string only = argc > 1 ? argv[1] : "";
    int passed = 0, failed = 0, skipped = 0;
    for (const auto& t : facedge_test::registry())
    {
        if (!only.empty() && only != t.name)
            continue;
        try
        {
            t.fn();
            passed++;
            std::cout << "PASS " << t.name << "\n";
        }
        catch (const facedge_test::Skip& s)
        {
            skipped++;
            std::cout << "SKIP " << t.name << ": " << s.reason << "\n";
        }
        catch (const facedge_test::Failure& f)
        {
            failed++;
            std::cout << "FAIL " << t.name << ": " << f.message << "\n";
        }
        catch (const std::exception& e)
        {
            failed++;
            std::cout << "FAIL " << t.name << ": unexpected exception: " << e.what() << "\n";
        }
    }
    std::cout << passed << " passed, " << failed << " failed, " << skipped << " skipped\n";
    return failed ? 1 : 0;
}
