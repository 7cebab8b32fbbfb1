#!/usr/bin/env bash
# Regenerate the coverage sample reports from the sources in src/ by running
# the real tools. The reports are committed so that tests need none of these
# tools; rerun this when the sources or the tool versions change.
#
# Tools and the versions the committed reports were made with:
# - coverage.py 7.17.5 (PyPI) on Python 3.11.7:
#     coveragepy-cobertura.xml (`coverage xml`, Cobertura) and
#     coveragepy.lcov (`coverage lcov`, LCOV)
# - gcc 12.2.0 and lcov 1.16 (Debian bookworm packages gcc, lcov):
#     gcc-lcov-capture.info (`lcov --capture` with branch coverage: this
#     lcov with gcc 12 writes no LF/LH/BRF/BRH summary lines, only DA/BRDA)
#     and gcc-lcov.info (the same passed through `lcov --add-tracefile`,
#     which writes the summary lines)
# - OpenJDK 17.0.15 and JaCoCo 0.8.6 (Debian bookworm packages
#   openjdk-17-jdk-headless, libjacoco-java): jacoco.xml, written by
#   JaCoCo's agent (the jacocoagent.jar shipped inside org.jacoco.agent.jar)
#   and JaCoCo's XMLFormatter, driven by src/java/JacocoXml.java because
#   Debian ships JaCoCo's libraries but not its command-line jar.
#
# Installs the tools first (pip, and apt-get as root: run `apt-get update`
# once before); SKIP_INSTALL=1 ./generate.sh uses those already installed.
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
# A fixed scratch folder: lcov records absolute source paths, so the committed
# reports name /tmp/smm-samples-coverage/c/ranges.c whoever regenerates them.
work=/tmp/smm-samples-coverage
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

if [ "${SKIP_INSTALL:-}" != 1 ]; then
    pip install --quiet "coverage==7.17.5"
    apt-get install -y -qq gcc lcov openjdk-17-jdk-headless libjacoco-java >/dev/null
fi

# coverage.py: branch coverage and relative paths come from src/python/.coveragerc.
(
    cd src/python
    export COVERAGE_FILE="$work/.coverage" PYTHONDONTWRITEBYTECODE=1
    python3 -m coverage run -m unittest -q test_shapes
    python3 -m coverage xml -o "$here/coveragepy-cobertura.xml"
    python3 -m coverage lcov -o "$here/coveragepy.lcov"
)

# gcc + lcov: build and run in the scratch folder.
mkdir -p "$work/c"
cp src/c/ranges.c "$work/c/"
(
    cd "$work/c"
    gcc --coverage -O0 -o ranges ranges.c
    ./ranges >/dev/null
    # (Debian's lcov 1.16 prints "Subroutine ... redefined" warnings: harmless.)
    lcov --quiet --capture --rc lcov_branch_coverage=1 --directory . \
        --no-external --output-file "$here/gcc-lcov-capture.info" 2>/dev/null
    lcov --quiet --rc lcov_branch_coverage=1 --add-tracefile "$here/gcc-lcov-capture.info" \
        --output-file "$here/gcc-lcov.info" 2>/dev/null
)

# JaCoCo: compile for Java 8 (class files JaCoCo 0.8.6 analyses), run under the agent.
jacoco_cp="/usr/share/java/org.jacoco.core.jar:/usr/share/java/org.jacoco.report.jar"
jacoco_cp="$jacoco_cp:/usr/share/java/asm.jar:/usr/share/java/asm-commons.jar:/usr/share/java/asm-tree.jar"
mkdir -p "$work/java/classes" "$work/java/tool"
(cd "$work/java" && unzip -q -o /usr/share/java/org.jacoco.agent.jar jacocoagent.jar)
javac -nowarn --release 8 -d "$work/java/classes" src/java/Grades.java src/java/GradesMain.java
javac -nowarn -cp "$jacoco_cp" -d "$work/java/tool" src/java/JacocoXml.java
java -javaagent:"$work/java/jacocoagent.jar=destfile=$work/java/jacoco.exec" \
    -cp "$work/java/classes" samples.GradesMain >/dev/null
java -cp "$work/java/tool:$jacoco_cp" JacocoXml "$work/java/jacoco.exec" \
    "$work/java/classes" src/java jacoco.xml

echo "wrote coveragepy-cobertura.xml coveragepy.lcov gcc-lcov-capture.info gcc-lcov.info jacoco.xml"
