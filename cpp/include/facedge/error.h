// facedge::Error: every problem with the caller's input (files, images, options).
// The message is one line that names the file or value and says what was expected.
#pragma once

#include <stdexcept>
#include <string>

namespace facedge {

class Error : public std::runtime_error
{
public:
    explicit Error(const std::string& message)
        : std::runtime_error(message)
    {
    }
};

} // namespace facedge
