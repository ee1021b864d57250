"""Point cloud file readers and the check every cloud passes.

:func:`validate_cloud` is the one check of every point cloud that enters
bpfn, read from disk or generated: a finite, non-empty ``(N, 3)`` array
that fits in float32 (values are checked *after* the conversion, so float64
values beyond float32's range are refused). :func:`load_cloud` reads the
processed FT3D / KITTI ``.npy`` files; :func:`load_points` reads any
supported file by its extension (the demo and datasets of unlabelled scans
use it):

* ``.npy``: an ``(N, C >= 3)`` float array; the first three columns are
  x, y, z. The header is read first: a header that claims more data than
  the file holds, or more than :data:`MAX_POINTS` rows, is refused before
  anything is allocated.
* ``.bin``: KITTI Velodyne scans, float32 (x, y, z, intensity) records.
* ``.ply``: read with ``plyfile`` (``requirements/optional.txt``), ASCII or
  binary, the x, y, z of the ``vertex`` element.
* ``.pcd``: bpfn's own reader (ASCII and binary; ``binary_compressed`` is
  refused with a message). ``pypcd4`` was tried and not used: on malformed
  files it raises a several-line pydantic ``ValidationError``, a bare
  ``MemoryError`` for an oversized ``POINTS`` and a ``ValueError`` that
  names neither the file nor the field for a truncated body, so the header
  would have to be parsed and checked here anyway, after which reading an
  ASCII or binary body is one numpy call. Open3D was not tried: a large
  dependency for one reader.

Every error is one line that names the file (and the header field or
property at fault); reader errors are :class:`PointCloudFormatError`, a
``ValueError``.
"""
import os
import os.path as osp
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

#: The most points (rows) a cloud file may hold. Scene flow inputs have
#: ~1e5 points (a KITTI Velodyne scan ~1.2e5, an FT3D frame at most 5.2e5);
#: a header claiming more than this is taken as corrupt rather than
#: allocated.
MAX_POINTS = 2**27
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class PointCloudFormatError(ValueError):
    """A point cloud file cannot be read or holds a wrong array."""


def _one_line(text: Any) -> str:
    return ' '.join(str(text).split())


def validate_cloud(cloud: Any, source: str) -> np.ndarray:
    """Check that ``cloud`` is a finite, non-empty float ``(N, 3)`` array.

    The array is converted to float32 first and the converted values are
    checked, so a float64 value beyond float32's range (which would become
    inf) is refused.

    Args:
        cloud (Any): The candidate point cloud.
        source (str): What the cloud is (a file path or a field name); it is
            named in every error message.

    Returns:
        np.ndarray: The cloud as a C-contiguous float32 array of shape
        ``(N, 3)``.

    Raises:
        ValueError: If the cloud is not an array, has another shape than
            ``(N, 3)``, a non-float dtype, no points, NaN/inf values or
            values beyond float32's range.
    """
    if not isinstance(cloud, np.ndarray):
        raise ValueError(f'{source}: expected a numpy array of shape (N, 3), '
                         f'got {type(cloud).__name__}')
    if cloud.ndim != 2 or cloud.shape[1] != 3:
        raise ValueError(f'{source}: expected an array of shape (N, 3), got '
                         f'shape {tuple(cloud.shape)}')
    if not np.issubdtype(cloud.dtype, np.floating):
        raise ValueError(f'{source}: expected a float array (float32 or '
                         f'float64), got dtype {cloud.dtype}')
    if cloud.shape[0] == 0:
        raise ValueError(f'{source}: the point cloud is empty (0 points); '
                         'expected at least one point of shape (N, 3)')
    with np.errstate(over='ignore'):
        converted = np.ascontiguousarray(cloud, dtype=np.float32)
    finite = np.isfinite(converted).all(axis=1)
    if finite.all():
        return converted
    given_finite = np.isfinite(cloud).all(axis=1)
    if not given_finite.all():
        bad = int((~given_finite).sum())
        first = int(np.flatnonzero(~given_finite)[0])
        raise ValueError(f'{source}: {bad} point(s) contain NaN or inf '
                         f'(first at row {first}); expected finite '
                         'coordinates')
    bad = int((~finite).sum())
    first = int(np.flatnonzero(~finite)[0])
    raise ValueError(
        f'{source}: {bad} point(s) exceed the float32 range (first at row '
        f'{first}: {cloud[first].tolist()}); expected coordinates within '
        f'+-{_FLOAT32_MAX:.4g}')


def _check_points(num: int, path: str, what: str) -> None:
    if num > MAX_POINTS:
        raise PointCloudFormatError(
            f'{path}: {what} claims {num} points, more than the limit of '
            f'{MAX_POINTS} (bpfn.datasets.readers.MAX_POINTS); a corrupt '
            'header?')


def read_npy_header(path: str) -> Tuple[Tuple[int, ...], np.dtype, int]:
    """Read and check the header of a ``.npy`` file without its data.

    Args:
        path (str): ``.npy`` file.

    Returns:
        tuple: ``shape``, ``dtype`` and the byte offset of the data.

    Raises:
        PointCloudFormatError: If the header is unreadable, claims more data
            than the file holds, or more than :data:`MAX_POINTS` rows.
    """
    fmt = np.lib.format
    with open(path, 'rb') as f:
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(f)
            else:
                shape, _, dtype = fmt.read_array_header_2_0(f)
        except (ValueError, OSError, EOFError, SyntaxError) as err:
            raise PointCloudFormatError(
                f'{path}: cannot be read as a .npy array of shape (N, 3) '
                f'({_one_line(err)})') from err
        offset = f.tell()
        size = os.fstat(f.fileno()).st_size
    if dtype.hasobject:
        return shape, dtype, offset  # np.load refuses it without unpickling
    if shape:
        _check_points(int(shape[0]), path, f'the .npy header (shape {shape})')
    claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if claimed > size - offset:
        raise PointCloudFormatError(
            f'{path}: the .npy header claims shape {shape} of {dtype} '
            f'({claimed} bytes of data) but the file holds {size - offset}; '
            'a truncated file?')
    return shape, dtype, offset


def read_npy(path: str) -> np.ndarray:
    """Read a ``.npy`` array after checking its header (no pickles).

    Args:
        path (str): ``.npy`` file.

    Returns:
        np.ndarray: The stored array.

    Raises:
        PointCloudFormatError: If the file is not a plain ``.npy`` array or
            fails :func:`read_npy_header`.
        MemoryError: If the stored array does not fit in memory (naming the
            file).
    """
    shape, dtype, _ = read_npy_header(path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise PointCloudFormatError(
            f'{path}: cannot be read as a .npy array of shape (N, 3) '
            f'({_one_line(err)})') from err
    except MemoryError as err:
        raise MemoryError(f'{path}: not enough memory for its {shape} '
                          f'{dtype} array') from err


def load_cloud(path: str) -> np.ndarray:
    """Load and validate one ``.npy`` point cloud.

    Args:
        path (str): Path of a ``.npy`` file holding an ``(N, 3)`` float
            array.

    Returns:
        np.ndarray: float32 array of shape ``(N, 3)``.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file cannot be read as a plain numpy array, its
            header is inconsistent (see :func:`read_npy_header`) or the
            array fails :func:`validate_cloud`.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'{path}: point cloud file not found; expected an (N, 3) float '
            'array saved with numpy.save')
    return validate_cloud(read_npy(path), path)


def read_npy_points(path: str) -> np.ndarray:
    """x, y, z of an ``(N, C >= 3)`` float ``.npy`` array.

    Args:
        path (str): ``.npy`` file.

    Returns:
        np.ndarray: ``(N, 3)`` (the first three columns, dtype kept).
    """
    array = read_npy(path)
    if array.ndim != 2 or array.shape[1] < 3:
        raise PointCloudFormatError(
            f'{path}: expected an array of shape (N, 3) or (N, C >= 3), got '
            f'{array.shape}')
    if not np.issubdtype(array.dtype, np.floating):
        raise PointCloudFormatError(
            f'{path}: expected float coordinates, got dtype {array.dtype}')
    return array[:, :3]


def read_kitti_bin(path: str) -> np.ndarray:
    """x, y, z of a KITTI Velodyne ``.bin`` (float32 x, y, z, intensity).

    Args:
        path (str): ``.bin`` file.

    Returns:
        np.ndarray: float32 ``(N, 3)``.
    """
    size = osp.getsize(path)
    if size % 16:
        raise PointCloudFormatError(
            f'{path}: {size} bytes is not a multiple of 16; expected KITTI '
            'float32 (x, y, z, intensity) records')
    _check_points(size // 16, path, 'the file size')
    return np.fromfile(path, dtype='<f4').reshape(-1, 4)[:, :3]


def read_ply(path: str) -> np.ndarray:
    """x, y, z of the ``vertex`` element of a PLY file (with ``plyfile``).

    Args:
        path (str): ASCII or binary PLY file.

    Returns:
        np.ndarray: ``(N, 3)`` in the stored type.
    """
    with open(path, 'rb') as f:
        if f.readline().strip() != b'ply':
            raise PointCloudFormatError(
                f'{path}: not a PLY file (first line is not "ply")')
    try:
        import plyfile
    except ImportError as err:
        raise PointCloudFormatError(
            f'{path}: reading PLY files needs the plyfile package (pip '
            'install plyfile, see requirements/optional.txt)') from err
    try:
        ply = plyfile.PlyData.read(path)
    except plyfile.PlyHeaderParseError as err:
        raise PointCloudFormatError(
            f'{path}: malformed PLY header: {_one_line(err)}') from err
    except UnicodeDecodeError as err:
        raise PointCloudFormatError(
            f'{path}: malformed PLY header: a non-ASCII byte at offset '
            f'{err.start} of a header line (no end_header line before the '
            'binary data?)') from err
    except plyfile.PlyElementParseError as err:
        raise PointCloudFormatError(
            f'{path}: bad PLY data: {_one_line(err)}') from err
    names = [e.name for e in ply.elements]
    if 'vertex' not in names:
        raise PointCloudFormatError(
            f'{path}: no "vertex" element in the PLY header (elements: '
            f'{names})')
    vertex = ply['vertex']
    _check_points(vertex.count, path, 'the PLY header (element vertex)')
    props = [p.name for p in vertex.properties]
    missing = [c for c in 'xyz' if c not in props]
    if missing:
        raise PointCloudFormatError(
            f'{path}: the vertex element has no {", ".join(missing)} '
            f'property (properties: {props})')
    for c in 'xyz':
        kind = vertex.data.dtype[c]
        if kind.subdtype is not None or kind == object:
            raise PointCloudFormatError(
                f'{path}: vertex property {c!r} is a list; expected a '
                'scalar')
    return np.stack([np.asarray(vertex.data[c]) for c in 'xyz'], axis=1)


_PCD_TYPES = {('F', 4): 'f4', ('F', 8): 'f8', ('I', 1): 'i1', ('I', 2): 'i2',
              ('I', 4): 'i4', ('I', 8): 'i8', ('U', 1): 'u1', ('U', 2): 'u2',
              ('U', 4): 'u4', ('U', 8): 'u8'}
_PCD_MAX_HEADER_LINES = 200


def _pcd_header(f, path: str) -> Dict[str, List[str]]:
    meta: Dict[str, List[str]] = {}
    for _ in range(_PCD_MAX_HEADER_LINES):
        raw = f.readline()
        if not raw:
            break
        words = raw.decode('ascii', errors='replace').split()
        if not words or words[0].startswith('#'):
            continue
        meta[words[0].upper()] = words[1:]
        if words[0].upper() == 'DATA':
            return meta
    raise PointCloudFormatError(f'{path}: no "DATA" line in the PCD header')


def _pcd_ints(meta: Dict[str, List[str]], key: str, path: str,
              num: int) -> List[int]:
    values = meta[key]
    if len(values) != num:
        raise PointCloudFormatError(
            f'{path}: PCD header field {key} has {len(values)} value(s), '
            f'expected {num}')
    try:
        ints = [int(v) for v in values]
    except ValueError as err:
        raise PointCloudFormatError(
            f'{path}: PCD header field {key} {" ".join(values)!r} is not a '
            'list of integers') from err
    if any(v < 0 for v in ints):
        raise PointCloudFormatError(
            f'{path}: PCD header field {key} {" ".join(values)!r} is '
            'negative')
    return ints


def read_pcd(path: str) -> np.ndarray:
    """x, y, z of a PCD file (bpfn's reader, see the module docstring).

    Args:
        path (str): ASCII or binary PCD file.

    Returns:
        np.ndarray: ``(N, 3)`` in the stored type.
    """
    with open(path, 'rb') as f:
        meta = _pcd_header(f, path)
        for key in ('FIELDS', 'SIZE', 'TYPE'):
            if key not in meta:
                raise PointCloudFormatError(
                    f'{path}: no {key} line in the PCD header')
        fields = meta['FIELDS']
        num = len(fields)
        missing = [c for c in 'xyz' if c not in fields]
        if missing:
            raise PointCloudFormatError(
                f'{path}: the PCD has no {", ".join(missing)} field '
                f'(fields: {fields})')
        sizes = _pcd_ints(meta, 'SIZE', path, num)
        types = [t.upper() for t in meta['TYPE']]
        if len(types) != num:
            raise PointCloudFormatError(
                f'{path}: PCD header field TYPE has {len(types)} value(s), '
                f'expected {num}')
        counts = (_pcd_ints(meta, 'COUNT', path, num)
                  if 'COUNT' in meta else [1] * num)
        if 'POINTS' in meta:
            points = _pcd_ints(meta, 'POINTS', path, 1)[0]
        elif 'WIDTH' in meta:
            points = _pcd_ints(meta, 'WIDTH', path, 1)[0] * (_pcd_ints(
                meta, 'HEIGHT', path, 1)[0] if 'HEIGHT' in meta else 1)
        else:
            raise PointCloudFormatError(
                f'{path}: no POINTS (nor WIDTH) line in the PCD header')
        _check_points(points, path, 'the PCD header (POINTS)')
        kind = (meta['DATA'] or [''])[0].lower()
        if kind == 'ascii':
            try:
                data = np.loadtxt(f, dtype=np.float64, ndmin=2)
            except ValueError as err:
                raise PointCloudFormatError(
                    f'{path}: bad ASCII point data ({_one_line(err)})'
                ) from err
            if data.shape[0] != points or data.shape[1] != sum(counts):
                raise PointCloudFormatError(
                    f'{path}: expected {points} points of {sum(counts)} '
                    f'values (POINTS, COUNT), got {data.shape}')
            starts = np.cumsum([0] + counts[:-1])
            return data[:, [int(starts[fields.index(c)]) for c in 'xyz']]
        if kind != 'binary':
            raise PointCloudFormatError(
                f'{path}: PCD header field DATA {kind!r} is not supported; '
                "expected 'ascii' or 'binary'")
        layout = []
        for name, kind_, size, count in zip(fields, types, sizes, counts):
            if (kind_, size) not in _PCD_TYPES:
                raise PointCloudFormatError(
                    f'{path}: PCD field {name!r} has TYPE {kind_} SIZE '
                    f'{size}; expected F 4/8, I or U 1/2/4/8')
            layout.append((name, '<' + _PCD_TYPES[(kind_, size)], (count, )))
        try:
            dtype = np.dtype(layout)
        except (ValueError, TypeError) as err:
            raise PointCloudFormatError(
                f'{path}: bad PCD FIELDS {fields} ({_one_line(err)})'
            ) from err
        buffer = f.read(dtype.itemsize * points)
    if len(buffer) < dtype.itemsize * points:
        raise PointCloudFormatError(
            f'{path}: truncated: the PCD header announces {points} points, '
            f'the file holds {len(buffer) // max(dtype.itemsize, 1)}')
    data = np.frombuffer(buffer, dtype=dtype, count=points)
    return np.stack([data[c][:, 0] for c in 'xyz'], axis=1)


#: Reader of each supported extension; each returns ``(N, 3)``.
POINT_READERS: Dict[str, Callable[[str], np.ndarray]] = {
    '.npy': read_npy_points,
    '.ply': read_ply,
    '.pcd': read_pcd,
    '.bin': read_kitti_bin
}


def load_points(path: str) -> np.ndarray:
    """Read a point cloud by its extension and check it.

    Args:
        path (str): A ``.npy``, ``.ply``, ``.pcd`` or KITTI ``.bin`` file.

    Returns:
        np.ndarray: float32 ``(N, 3)``, N >= 1, finite.

    Raises:
        FileNotFoundError: If the file does not exist.
        PointCloudFormatError: If the format, the header or the values are
            wrong.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: point cloud file not found')
    ext = osp.splitext(path)[1].lower()
    if ext not in POINT_READERS:
        raise PointCloudFormatError(
            f'{path}: unsupported point cloud format {ext or "(none)"!r}; '
            f'expected one of {", ".join(POINT_READERS)}')
    try:
        points = POINT_READERS[ext](path)
    except MemoryError as err:
        raise MemoryError(f'{path}: not enough memory to read it') from err
    if np.issubdtype(points.dtype, np.integer):
        points = points.astype(np.float64)  # integer PLY / PCD coordinates
    try:
        return validate_cloud(points, path)
    except PointCloudFormatError:
        raise
    except ValueError as err:
        raise PointCloudFormatError(str(err)) from err
