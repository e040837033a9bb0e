// A minimal test harness: TEST(name) { CHECK(...); } — no dependency beyond the
// standard library, so the C++ core's tests build anywhere ncnn builds (also under
// qemu for aarch64). SKIP("why") ends a test as skipped (reported as such, never as a
// pass). main() prints "N passed, N failed, N skipped" and exits non-zero on failure.
#pragma once

#include <cmath>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "facedge/error.h"

namespace facedge_test {

struct TestCase
{
    const char* name;
    std::function<void()> fn;
};

std::vector<TestCase>& registry();

struct Failure
{
    std::string message;
};

struct Skip
{
    std::string reason;
};

struct Register
{
    Register(const char* name, std::function<void()> fn) { registry().push_back({name, fn}); }
};

// FACEDGE_SHARED or ../shared from the working directory; "" if absent. A FACEDGE_SHARED
// that names no shared folder is a failure, not a skip: the tests were told where it is.
std::string shared_dir();

} // namespace facedge_test

#define FT_CAT2(a, b) a##b
#define FT_CAT(a, b) FT_CAT2(a, b)
#define TEST(name)                                                                   \
    static void name();                                                              \
    static facedge_test::Register FT_CAT(register_, name)(#name, name);              \
    static void name()

#define SKIP(reason) throw facedge_test::Skip{reason}

#define CHECK(cond)                                                                              \
    do                                                                                           \
    {                                                                                            \
        if (!(cond))                                                                             \
        {                                                                                        \
            std::ostringstream os_;                                                              \
            os_ << __FILE__ << ":" << __LINE__ << ": CHECK(" #cond ") failed";                   \
            throw facedge_test::Failure{os_.str()};                                              \
        }                                                                                        \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                                 \
    do                                                                                                        \
    {                                                                                                         \
        const double a_ = (a), b_ = (b);                                                                      \
        if (!(std::fabs(a_ - b_) <= (tol)))                                                                   \
        {                                                                                                     \
            std::ostringstream os_;                                                                           \
            os_ << __FILE__ << ":" << __LINE__ << ": " #a " = " << a_ << " vs " #b " = " << b_ << " (tol " << (tol) << ")"; \
            throw facedge_test::Failure{os_.str()};                                                           \
        }                                                                                                     \
    } while (0)

// CHECK_THROWS_WITH(expr, "substring"): expr throws facedge::Error whose message contains it
#define CHECK_THROWS_WITH(expr, substring)                                                                    \
    do                                                                                                        \
    {                                                                                                         \
        bool threw_ = false;                                                                                  \
        try                                                                                                   \
        {                                                                                                     \
            expr;                                                                                             \
        }                                                                                                     \
        catch (const facedge::Error& e_)                                                                      \
        {                                                                                                     \
            threw_ = true;                                                                                    \
            if (std::string(e_.what()).find(substring) == std::string::npos)                                  \
            {                                                                                                 \
                std::ostringstream os_;                                                                       \
                os_ << __FILE__ << ":" << __LINE__ << ": message '" << e_.what() << "' lacks '" << substring << "'"; \
                throw facedge_test::Failure{os_.str()};                                                       \
            }                                                                                                 \
        }                                                                                                     \
        if (!threw_)                                                                                          \
        {                                                                                                     \
            std::ostringstream os_;                                                                           \
            os_ << __FILE__ << ":" << __LINE__ << ": " #expr " did not throw facedge::Error";                  \
            throw facedge_test::Failure{os_.str()};                                                           \
        }                                                                                                     \
    } while (0)
