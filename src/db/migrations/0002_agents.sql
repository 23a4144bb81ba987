-- reserved for the API issue; replaced by the tables of this area
SELECT 1;
