import unittest

from shapes import area, classify, largest


class ShapesTest(unittest.TestCase):
    def test_square(self):
        self.assertEqual(area("square", 3), 9)

    def test_rectangle(self):
        self.assertEqual(area("rectangle", 2, 5), 10)

    def test_classify(self):
        self.assertEqual(classify(30), "acute")
        self.assertEqual(classify(120), "obtuse")

    def test_largest(self):
        self.assertEqual(largest([("square", (2,)), ("rectangle", (1, 3))]), 4)


if __name__ == "__main__":
    unittest.main()
