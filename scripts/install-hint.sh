# Sourced by the ensure-*.sh scripts: install_hint prints the command that installs a package
# on this platform, given its name for Homebrew, Debian, Fedora, Alpine and Arch, and what to
# say anywhere else.
install_hint() {
    local brew=$1 debian=$2 fedora=$3 alpine=$4 arch=$5 other=$6
    case "$(uname -s)" in
        Darwin) echo "brew install $brew" ;;
        *)
            if [ -e /etc/debian_version ]; then
                echo "sudo apt-get install $debian"
            elif [ -e /etc/redhat-release ] || [ -e /etc/fedora-release ]; then
                echo "sudo dnf install $fedora"
            elif [ -e /etc/alpine-release ]; then
                echo "sudo apk add $alpine"
            elif [ -e /etc/arch-release ]; then
                echo "sudo pacman -S $arch"
            else
                echo "$other"
            fi
            ;;
    esac
}
